variable "project_id" {
  type        = string
  description = "Google Cloud project of the whole environment."
}

variable "region" {
  type        = string
  description = "Region of the cluster, buckets, database and registry."
}

variable "cluster_name" {
  type        = string
  description = "Name of the GKE cluster; also the prefix of the network, database and service account names."
  default     = "tradewind"
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the bucket names; bucket names are global, so include your organisation (acme-tradewind)."
}

variable "master_authorized_networks" {
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  description = "CIDRs allowed to reach the GKE control plane (where Terraform and kubectl run)."
  default     = []
}

variable "release_channel" {
  type        = string
  description = "GKE release channel."
  default     = "REGULAR"
}

variable "system_pool" {
  type = object({
    machine_type   = string
    min_node_count = number
    max_node_count = number
    disk_size_gb   = number
  })
  description = "Override of the CPU system node pool; null keeps the gke module's default."
  default     = null
}

variable "gpu_node_pools" {
  type = map(object({
    machine_type      = string
    accelerator_type  = string
    accelerator_count = number
    spot              = bool
    disk_size_gb      = number
    min_node_count    = number
    max_node_count    = number
    node_locations    = list(string)
    labels            = map(string)
    taints = list(object({
      key    = string
      value  = string
      effect = string
    }))
  }))
  description = "Override of the GPU node pools; null keeps the gke module's defaults, which follow include/config/gpu_profiles.yaml."
  default     = null
}

variable "database_tier" {
  type        = string
  description = "Cloud SQL machine tier of the PostgreSQL server of Airflow and MLflow."
  default     = "db-custom-2-7680"
}

variable "database_availability_type" {
  type        = string
  description = "REGIONAL (standby in another zone) or ZONAL."
  default     = "REGIONAL"
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the cluster and the database from deletion."
  default     = true
}

variable "force_destroy_buckets" {
  type        = bool
  description = "Let terraform destroy delete non-empty buckets (throwaway environments only)."
  default     = false
}

variable "airflow_image_tag" {
  type        = string
  description = "Immutable tag of the Airflow image pushed to <image_registry>/airflow."
}

variable "serving_image_tag" {
  type        = string
  description = "Immutable tag of the model-server image pushed to <image_registry>/serving (the ServingRuntime tradewind-mlflow runs it)."
}

variable "storage_conn_id" {
  type        = string
  description = "Airflow connection id of the object store (the gcp profile's storage.conn_id); defined in the Airflow environment with Workload Identity credentials."
  default     = "google_cloud_default"
}

variable "kubernetes_conn_id" {
  type        = string
  description = "Airflow connection id of the cluster (in-cluster configuration)."
  default     = "kubernetes_default"
}

variable "airflow_namespace" {
  type        = string
  description = "Namespace of Airflow."
  default     = "airflow"
}

variable "mlflow_namespace" {
  type        = string
  description = "Namespace of the MLflow tracking server."
  default     = "mlflow"
}

variable "training_namespace" {
  type        = string
  description = "Namespace of the trainer pods and Jobs (the profile's training.namespace)."
  default     = "tradewind"
}

variable "serving_namespace" {
  type        = string
  description = "Namespace of the InferenceServices (the profile's serving.namespace)."
  default     = "tradewind"
}

variable "manifests_enabled" {
  type        = bool
  description = "Apply the custom resources; false for the first apply of a new cluster, whose CRDs do not exist yet."
  default     = true
}

variable "labels" {
  type        = map(string)
  description = "Labels added to the Google Cloud resources that take them."
  default     = {}
}
