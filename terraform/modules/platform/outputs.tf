output "mlflow_tracking_uri" {
  description = "In-cluster URL of the MLflow tracking server."
  value       = local.mlflow_tracking_uri
}

output "prometheus_url" {
  description = "In-cluster URL of Prometheus (the canary reads the model-server metrics there)."
  value       = local.prometheus_url
}

output "airflow_api_url" {
  description = "In-cluster URL of the Airflow API server and UI (kubectl port-forward svc/airflow-api-server 8080 to reach it)."
  value       = "http://airflow-api-server.${local.airflow.namespace}.svc.cluster.local:8080"
}

output "namespaces" {
  description = "Namespaces created for the platform."
  value       = sort(local.namespaces)
}

output "service_accounts" {
  description = "Workload -> namespace/name of its Kubernetes service account (trainer pods and InferenceServices must run as theirs)."
  value       = { for workload, account in var.service_accounts : workload => "${account.namespace}/${account.name}" }
}

output "applied_manifests" {
  description = "Files of manifests/ that hold an object and are applied (placeholders are skipped)."
  value       = sort(keys(local.manifests))
}

output "chart_versions" {
  description = "The pinned chart versions in use."
  value       = var.chart_versions
}
