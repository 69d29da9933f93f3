output "host" {
  description = "Private DNS name of the PostgreSQL instance."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "PostgreSQL port."
  value       = aws_db_instance.this.port
}

output "admin_username" {
  description = "Master user of the instance."
  value       = aws_db_instance.this.username
}

output "admin_password" {
  description = "Password of the master user."
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

output "security_group_id" {
  description = "Security group of the instance."
  value       = aws_security_group.this.id
}

output "instance_arn" {
  description = "ARN of the RDS instance."
  value       = aws_db_instance.this.arn
}
