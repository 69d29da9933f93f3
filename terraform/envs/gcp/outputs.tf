# The gcp environment profile (include/config/profiles/gcp.yaml) reads these names from
# `terraform output -json` (saved as include/config/profiles/gcp.tfoutputs.json).

output "cluster_name" {
  description = "Name of the GKE cluster."
  value       = module.gke.cluster_name
}

output "region" {
  description = "Region of the environment."
  value       = var.region
}

output "project_id" {
  description = "Google Cloud project of the environment."
  value       = var.project_id
}

output "lake_bucket" {
  description = "Bucket of the data lake; the profile's storage.root is gs://<lake_bucket>."
  value       = module.storage.lake_bucket
}

output "artifacts_bucket" {
  description = "Bucket of the MLflow artifacts."
  value       = module.storage.artifacts_bucket
}

output "inference_log_bucket" {
  description = "Bucket of the inference logs of the model servers."
  value       = module.storage.inference_log_bucket
}

output "storage_scheme" {
  description = "URI scheme of the object store (gs)."
  value       = "gs"
}

output "storage_conn_id" {
  description = "Airflow connection id of the object store."
  value       = var.storage_conn_id
}

output "kubernetes_conn_id" {
  description = "Airflow connection id of the cluster."
  value       = var.kubernetes_conn_id
}

output "mlflow_tracking_uri" {
  description = "In-cluster URL of the MLflow tracking server."
  value       = module.platform.mlflow_tracking_uri
}

output "image_registry" {
  description = "Registry prefix the images are pushed to: <image_registry>/airflow, /trainer, /serving."
  value       = module.registry.image_registry
}

output "training_namespace" {
  description = "Namespace of the trainer pods and Jobs."
  value       = var.training_namespace
}

output "serving_namespace" {
  description = "Namespace of the InferenceServices."
  value       = var.serving_namespace
}

output "airflow_namespace" {
  description = "Namespace of Airflow."
  value       = var.airflow_namespace
}

output "trainer_service_account" {
  description = "Service account the trainer pods run as (Workload Identity: lake read, artifacts read and write)."
  value       = local.service_accounts.trainer.name
}

output "serving_service_account" {
  description = "Service account the model servers run as (Workload Identity: artifacts read, inference logs read and write)."
  value       = local.service_accounts.serving.name
}

output "prometheus_url" {
  description = "In-cluster URL of Prometheus."
  value       = module.platform.prometheus_url
}

output "gpu_node_pools" {
  description = "GPU pool name -> {labels, taints} of its nodes, taint effects spelled as in Kubernetes (NoSchedule)."
  value       = module.gke.gpu_node_pools
}

output "database_host" {
  description = "Private IP of the PostgreSQL server of Airflow and MLflow."
  value       = module.database.host
}

output "kubeconfig_command" {
  description = "Command that writes a kubeconfig entry for the cluster."
  value       = "gcloud container clusters get-credentials ${module.gke.cluster_name} --region ${var.region} --project ${var.project_id}"
}
