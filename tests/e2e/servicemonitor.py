"""The shipped ServiceMonitor (deploy/kubernetes/servicemonitor.yaml) as the Prometheus scrape
configuration the Prometheus Operator makes of it, for a Prometheus outside Kubernetes: one
static target whose labels hold the Kubernetes service-discovery metadata a pod of the DaemonSet
would have (__meta_kubernetes_pod_node_name, ...), the target labels the operator adds to every
ServiceMonitor target (namespace, service, pod, container, endpoint, job from jobLabel), then the
ServiceMonitor's own relabelings, translated field by field. Tests run the real Prometheus (or
promtool) on it, so the relabelings are checked by the engine that will apply them.
"""

import os

import yaml

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVICEMONITOR = os.path.join(SOURCE_DIR, "deploy", "kubernetes", "servicemonitor.yaml")
SERVICE = os.path.join(SOURCE_DIR, "deploy", "kubernetes", "service.yaml")

# ServiceMonitor relabeling fields (the operator's API) -> Prometheus relabel_config keys.
FIELDS = {"sourceLabels": "source_labels", "targetLabel": "target_label", "regex": "regex",
          "replacement": "replacement", "action": "action", "separator": "separator",
          "modulus": "modulus"}


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def relabel_configs(relabelings):
    out = []
    for r in relabelings or []:
        unknown = set(r) - set(FIELDS)
        if unknown:
            raise ValueError("relabeling field(s) %s not translated" % sorted(unknown))
        out.append({FIELDS[k]: v for k, v in r.items()})
    return out


def _sanitize(name):
    return "".join(c if c.isalnum() else "_" for c in name)


def scrape_config(address, node_name, pod_name="pagescope-x7k2p", job_name="pagescope"):
    """A scrape_configs entry for pagescope at `address` as the operator would scrape it on the
    Kubernetes node `node_name`."""
    sm, svc = load(SERVICEMONITOR), load(SERVICE)
    (endpoint,) = sm["spec"]["endpoints"]
    job_label = sm["spec"].get("jobLabel")
    meta = {
        "__meta_kubernetes_namespace": svc["metadata"]["namespace"],
        "__meta_kubernetes_service_name": svc["metadata"]["name"],
        "__meta_kubernetes_pod_name": pod_name,
        "__meta_kubernetes_pod_container_name": "pagescope",
        "__meta_kubernetes_pod_node_name": node_name,
        "__meta_kubernetes_endpoint_address_target_kind": "Pod",
        "__meta_kubernetes_endpoint_address_target_name": pod_name,
    }
    for k, v in svc["metadata"].get("labels", {}).items():
        meta["__meta_kubernetes_service_label_" + _sanitize(k)] = v
    operator = [
        {"source_labels": ["__meta_kubernetes_endpoint_address_target_kind",
                           "__meta_kubernetes_endpoint_address_target_name"],
         "separator": ";", "regex": "Node;(.*)", "replacement": "${1}", "target_label": "node"},
        {"source_labels": ["__meta_kubernetes_endpoint_address_target_kind",
                           "__meta_kubernetes_endpoint_address_target_name"],
         "separator": ";", "regex": "Pod;(.*)", "replacement": "${1}", "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job"},
    ]
    if job_label:
        operator.append({"source_labels": ["__meta_kubernetes_service_label_"
                                           + _sanitize(job_label)],
                         "regex": "(.+)", "replacement": "${1}", "target_label": "job"})
    operator.append({"target_label": "endpoint", "replacement": endpoint["port"]})
    return {
        "job_name": job_name,
        "metrics_path": endpoint.get("path", "/metrics"),
        "static_configs": [{"targets": [address], "labels": meta}],
        "relabel_configs": operator + relabel_configs(endpoint.get("relabelings")),
    }
