output "network_id" {
  description = "ID of the VPC network (projects/<project>/global/networks/<name>)."
  value       = google_compute_network.this.id
}

output "network_name" {
  description = "Name of the VPC network."
  value       = google_compute_network.this.name
}

output "subnetwork_id" {
  description = "ID of the subnetwork the GKE nodes use."
  value       = google_compute_subnetwork.this.id
}

output "subnetwork_name" {
  description = "Name of the subnetwork the GKE nodes use."
  value       = google_compute_subnetwork.this.name
}

output "pods_range_name" {
  description = "Name of the secondary range for pod IPs."
  value       = local.pods_range
}

output "services_range_name" {
  description = "Name of the secondary range for Service IPs."
  value       = local.services_range
}

output "private_services_connection" {
  description = "ID of the private services access connection; Cloud SQL depends on it."
  value       = google_service_networking_connection.private_services.id
}
