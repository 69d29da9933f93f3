output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "HTTPS endpoint of the Kubernetes API."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64-encoded certificate authority of the Kubernetes API."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "cluster_version" {
  description = "Kubernetes version of the control plane."
  value       = aws_eks_cluster.this.version
}

output "cluster_security_group_id" {
  description = "Security group EKS created for the control plane and the managed nodes; the database admits it."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider of the cluster (IRSA)."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "oidc_issuer" {
  description = "OIDC issuer of the cluster without the https:// scheme, as IAM trust conditions spell it."
  value       = local.oidc_issuer
}

output "node_role_arn" {
  description = "IAM role of every node group."
  value       = aws_iam_role.node.arn
}

output "cluster_autoscaler_role_arn" {
  description = "IAM role of the Cluster Autoscaler (service account kube-system/cluster-autoscaler)."
  value       = aws_iam_role.autoscaler.arn
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
