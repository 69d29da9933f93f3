output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "IPv4 CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "IDs of the private subnets (nodes, database), in availability-zone order."
  value       = [for zone in var.availability_zones : aws_subnet.private[zone].id]
}

output "public_subnet_ids" {
  description = "IDs of the public subnets (NAT gateways, internet-facing load balancers), in availability-zone order."
  value       = [for zone in var.availability_zones : aws_subnet.public[zone].id]
}

output "availability_zones" {
  description = "Availability zones the subnets are in."
  value       = var.availability_zones
}
