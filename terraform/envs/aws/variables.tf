variable "region" {
  type        = string
  description = "AWS region of the whole environment."
}

variable "availability_zones" {
  type        = list(string)
  description = "Two or three availability zones of the region that offer the GPU instance types."
}

variable "cluster_name" {
  type        = string
  description = "Name of the EKS cluster; also the prefix of the VPC, database and IAM names."
  default     = "tradewind"
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the bucket names; bucket names are global, so include your organisation (acme-tradewind)."
}

variable "vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the VPC."
  default     = "10.40.0.0/16"
}

variable "single_nat_gateway" {
  type        = bool
  description = "One NAT gateway instead of one per availability zone (cheaper, not zone-redundant)."
  default     = false
}

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version of EKS."
  default     = "1.33"
}

variable "endpoint_public_access_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach the EKS API endpoint (where Terraform and kubectl run); empty keeps the endpoint private."
  default     = []
}

variable "system_node_group" {
  type = object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
    disk_size      = number
  })
  description = "Override of the CPU system node group; null keeps the eks module's default."
  default     = null
}

variable "gpu_node_pools" {
  type = map(object({
    instance_types = list(string)
    capacity_type  = string
    ami_type       = string
    disk_size      = number
    min_size       = number
    max_size       = number
    desired_size   = number
    labels         = map(string)
    taints = list(object({
      key    = string
      value  = string
      effect = string
    }))
  }))
  description = "Override of the GPU node groups; null keeps the eks module's defaults, which follow include/config/gpu_profiles.yaml."
  default     = null
}

variable "database_instance_class" {
  type        = string
  description = "RDS instance class of the PostgreSQL server of Airflow and MLflow."
  default     = "db.t4g.medium"
}

variable "database_multi_az" {
  type        = bool
  description = "Keep a standby of the database in a second availability zone."
  default     = true
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the database from deletion."
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
  description = "Airflow connection id of the object store (the aws profile's storage.conn_id); defined in the Airflow environment with the IRSA credentials."
  default     = "aws_default"
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

variable "tags" {
  type        = map(string)
  description = "Tags added to every AWS resource."
  default     = {}
}
