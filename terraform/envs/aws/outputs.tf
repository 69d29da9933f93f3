# The aws environment profile (include/config/profiles/aws.yaml) reads these names from
# `terraform output -json` (saved as include/config/profiles/aws.tfoutputs.json).

output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = module.eks.cluster_name
}

output "region" {
  description = "AWS region of the environment."
  value       = var.region
}

output "lake_bucket" {
  description = "Bucket of the data lake; the profile's storage.root is s3://<lake_bucket>."
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
  description = "URI scheme of the object store (s3)."
  value       = "s3"
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
  description = "Service account the trainer pods run as (IRSA role: lake read, artifacts read and write)."
  value       = local.service_accounts.trainer.name
}

output "serving_service_account" {
  description = "Service account the model servers run as (IRSA role: artifacts read, inference logs read and write)."
  value       = local.service_accounts.serving.name
}

output "prometheus_url" {
  description = "In-cluster URL of Prometheus."
  value       = module.platform.prometheus_url
}

output "gpu_node_pools" {
  description = "GPU pool name -> {labels, taints} of its nodes, taint effects spelled as in Kubernetes (NoSchedule)."
  value       = module.eks.gpu_node_pools
}

output "database_host" {
  description = "Private host name of the PostgreSQL server of Airflow and MLflow."
  value       = module.database.host
}

output "kubeconfig_command" {
  description = "Command that writes a kubeconfig entry for the cluster."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${module.eks.cluster_name}"
}
