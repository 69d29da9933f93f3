"""Pure builders of Kubernetes specs: GPU profiles, pods, jobs, InferenceService.

Nothing here talks to a cluster or imports the kubernetes client: the builders return plain dicts
(Kubernetes API JSON) that tests validate against the schema of ``K8S_VERSION``, and that the
Airflow layer hands to the cncf-kubernetes provider.
"""

# The Kubernetes minor version the Terraform modules (EKS, GKE) target; the spec tests validate
# every manifest against this version's schema. Change both together.
K8S_VERSION = "1.33.0"
