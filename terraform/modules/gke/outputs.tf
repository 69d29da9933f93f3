output "cluster_name" {
  description = "Name of the GKE cluster."
  value       = google_container_cluster.this.name
}

output "cluster_endpoint" {
  description = "IP address of the Kubernetes API (use https://<endpoint>)."
  value       = google_container_cluster.this.endpoint
}

output "cluster_ca_certificate" {
  description = "Base64-encoded certificate authority of the Kubernetes API."
  value       = google_container_cluster.this.master_auth[0].cluster_ca_certificate
}

output "workload_pool" {
  description = "Workload Identity pool of the cluster (<project>.svc.id.goog)."
  value       = "${var.project_id}.svc.id.goog"
}

output "node_service_account" {
  description = "Email of the service account of every node pool."
  value       = google_service_account.nodes.email
}

output "gpu_node_pools" {
  description = "GPU pool name -> the labels and taints of its nodes, taint effects in the Kubernetes spelling."
  value = {
    for name, pool in var.gpu_node_pools : name => {
      labels = pool.labels
      taints = pool.taints
    }
  }
}
