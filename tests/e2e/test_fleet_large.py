"""The simulated fleet of test_fleet.py at 200 hosts and 4 Prometheus agents (ctest label
fleet_large, left out of the default run like the benchmarks: `ctest -L fleet_large`).
PAGESCOPE_FLEET_LARGE_HOSTS / PAGESCOPE_FLEET_LARGE_SHARDS change the size."""

import os
import unittest

import test_fleet


class LargeFleetTest(test_fleet.FleetTest):
    HOSTS = int(os.environ.get("PAGESCOPE_FLEET_LARGE_HOSTS", "200"))
    SHARDS = int(os.environ.get("PAGESCOPE_FLEET_LARGE_SHARDS", "4"))
    INTERVAL = "5s"


if __name__ == "__main__":
    unittest.main()
