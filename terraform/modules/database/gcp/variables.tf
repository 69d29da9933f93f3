variable "project_id" {
  type        = string
  description = "Google Cloud project of the Cloud SQL instance."
}

variable "region" {
  type        = string
  description = "Region of the Cloud SQL instance."
}

variable "instance_name" {
  type        = string
  description = "Name of the Cloud SQL instance."
}

variable "network_id" {
  type        = string
  description = "VPC network the instance gets its private IP in; private services access must be connected first (the root module makes this module depend on the network module)."
}

variable "database_version" {
  type        = string
  description = "Cloud SQL PostgreSQL version."
  default     = "POSTGRES_18"
}

variable "tier" {
  type        = string
  description = "Machine tier of the instance."
  default     = "db-custom-2-7680"
}

variable "disk_size_gb" {
  type        = number
  description = "Initial SSD size in GB (grows automatically)."
  default     = 50
}

variable "availability_type" {
  type        = string
  description = "REGIONAL (a standby in another zone) or ZONAL."
  default     = "REGIONAL"
}

variable "backup_retention_count" {
  type        = number
  description = "Number of daily backups kept; point-in-time recovery covers the last 7 days."
  default     = 14
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse deletion of the instance until this is set to false."
  default     = true
}

variable "admin_username" {
  type        = string
  description = "Built-in user the platform uses once to create the application roles and databases."
  default     = "tradewind_admin"
}

variable "databases" {
  type        = list(string)
  description = "Application databases, each owned by a role of the same name (Airflow metadata, MLflow tracking)."
  default     = ["airflow", "mlflow"]
}

variable "labels" {
  type        = map(string)
  description = "User labels of the instance."
  default     = {}
}
