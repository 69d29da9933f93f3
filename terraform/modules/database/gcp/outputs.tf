output "host" {
  description = "Private IP address of the PostgreSQL instance."
  value       = google_sql_database_instance.this.private_ip_address
}

output "port" {
  description = "PostgreSQL port."
  value       = 5432
}

output "admin_username" {
  description = "Built-in user that creates the application roles and databases."
  value       = google_sql_user.admin.name
}

output "admin_password" {
  description = "Password of the admin user."
  value       = random_password.admin.result
  sensitive   = true
}

output "app_credentials" {
  description = "Database name -> the role that owns it and its password; the platform creates both."
  value = {
    for name in var.databases : name => {
      database = name
      username = name
      password = random_password.app[name].result
    }
  }
  sensitive = true
}

output "connection_name" {
  description = "Connection name of the instance (<project>:<region>:<name>), for the Cloud SQL Auth Proxy."
  value       = google_sql_database_instance.this.connection_name
}
