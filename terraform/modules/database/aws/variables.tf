variable "identifier" {
  type        = string
  description = "Identifier of the RDS instance (and prefix of its subnet group, parameter group and security group)."
}

variable "vpc_id" {
  type        = string
  description = "VPC of the database security group."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets of the DB subnet group (at least two availability zones)."
}

variable "allowed_security_group_ids" {
  type        = list(string)
  description = "Security groups admitted on the PostgreSQL port (the EKS cluster security group)."
}

variable "engine_version" {
  type        = string
  description = "PostgreSQL major version; RDS applies minor upgrades in the maintenance window."
  default     = "17"
}

variable "parameter_group_family" {
  type        = string
  description = "DB parameter group family matching engine_version."
  default     = "postgres17"
}

variable "instance_class" {
  type        = string
  description = "RDS instance class."
  default     = "db.t4g.medium"
}

variable "allocated_storage" {
  type        = number
  description = "Initial storage in GiB (gp3)."
  default     = 50
}

variable "max_allocated_storage" {
  type        = number
  description = "Storage autoscaling ceiling in GiB."
  default     = 200
}

variable "multi_az" {
  type        = bool
  description = "Keep a synchronous standby in a second availability zone."
  default     = true
}

variable "backup_retention_days" {
  type        = number
  description = "Days of automated backups and point-in-time recovery."
  default     = 14

  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "backup_retention_days is between 7 and 35."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse deletion of the instance until this is set to false."
  default     = true
}

variable "admin_username" {
  type        = string
  description = "Master user of the instance; the platform uses it once to create the application roles and databases."
  default     = "tradewind_admin"
}

variable "databases" {
  type        = list(string)
  description = "Application databases, each owned by a role of the same name (Airflow metadata, MLflow tracking)."
  default     = ["airflow", "mlflow"]
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module."
  default     = {}
}
