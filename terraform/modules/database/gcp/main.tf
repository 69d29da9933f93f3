# Passwords live in the Terraform state (keep the state bucket private); the platform module
# copies them into Kubernetes Secrets for Airflow and MLflow.
resource "random_password" "admin" {
  length  = 40
  special = false
}

resource "random_password" "app" {
  for_each = toset(var.databases)

  length  = 40
  special = false
}

resource "google_sql_database_instance" "this" {
  #checkov:skip=CKV_GCP_6:ssl_mode ENCRYPTED_ONLY rejects every unencrypted connection; client certificates (TRUSTED_CLIENT_CERTIFICATE_REQUIRED) would need a certificate per client that the Airflow and MLflow charts do not mount, and the instance has no public IP.
  #checkov:skip=CKV2_GCP_13:log_duration writes a line for every statement of the Airflow scheduler; Query Insights (insights_config) records statement latency instead.
  project             = var.project_id
  name                = var.instance_name
  region              = var.region
  database_version    = var.database_version
  deletion_protection = var.deletion_protection

  settings {
    tier              = var.tier
    edition           = "ENTERPRISE"
    availability_type = var.availability_type
    disk_type         = "PD_SSD"
    disk_size         = var.disk_size_gb
    disk_autoresize   = true
    user_labels       = merge({ app = "tradewind" }, var.labels)

    ip_configuration {
      ipv4_enabled    = false
      private_network = var.network_id
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      start_time                     = "02:00"
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = 7

      backup_retention_settings {
        retained_backups = var.backup_retention_count
        retention_unit   = "COUNT"
      }
    }

    maintenance_window {
      day          = 7
      hour         = 4
      update_track = "stable"
    }

    insights_config {
      query_insights_enabled  = true
      record_application_tags = true
      record_client_address   = false
    }

    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }

    database_flags {
      name  = "log_connections"
      value = "on"
    }

    database_flags {
      name  = "log_disconnections"
      value = "on"
    }

    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }

    database_flags {
      name  = "log_hostname"
      value = "on"
    }

    database_flags {
      name  = "log_min_messages"
      value = "error"
    }

    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }

    database_flags {
      name  = "log_temp_files"
      value = "0"
    }

    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }

    database_flags {
      name  = "log_statement"
      value = "ddl"
    }

    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
  }
}

resource "google_sql_user" "admin" {
  project  = var.project_id
  instance = google_sql_database_instance.this.name
  name     = var.admin_username
  password = random_password.admin.result
}
