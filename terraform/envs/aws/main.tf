provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

# Both providers reach the cluster with a token from the AWS CLI, so no credential is stored.
provider "kubernetes" {
  host                   = module.eks.cluster_endpoint
  cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)

  exec {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--cluster-name", module.eks.cluster_name, "--region", var.region]
  }
}

provider "helm" {
  kubernetes = {
    host                   = module.eks.cluster_endpoint
    cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)

    exec = {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.eks.cluster_name, "--region", var.region]
    }
  }
}

locals {
  tags = merge({ "app.kubernetes.io/part-of" = "tradewind", environment = "aws" }, var.tags)

  service_accounts = {
    airflow = { namespace = var.airflow_namespace, name = "airflow" }
    mlflow  = { namespace = var.mlflow_namespace, name = "mlflow" }
    trainer = { namespace = var.training_namespace, name = "tradewind-trainer" }
    serving = { namespace = var.serving_namespace, name = "tradewind-serving" }
  }

  # Airflow connections as environment variables (JSON form); the AWS one carries no secret, boto3
  # finds the IRSA web-identity token of the pod.
  airflow_env = {
    TRADEWIND_PROFILE                               = "aws"
    "AIRFLOW_CONN_${upper(var.storage_conn_id)}"    = jsonencode({ conn_type = "aws", extra = { region_name = var.region } })
    "AIRFLOW_CONN_${upper(var.kubernetes_conn_id)}" = jsonencode({ conn_type = "kubernetes", extra = { in_cluster = true } })
  }
}

module "network" {
  source = "../../modules/network/aws"

  name               = var.cluster_name
  cluster_name       = var.cluster_name
  cidr_block         = var.vpc_cidr
  availability_zones = var.availability_zones
  single_nat_gateway = var.single_nat_gateway
  tags               = local.tags
}

module "eks" {
  source = "../../modules/eks"

  cluster_name                 = var.cluster_name
  kubernetes_version           = var.kubernetes_version
  subnet_ids                   = module.network.private_subnet_ids
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs
  system_node_group            = var.system_node_group
  gpu_node_pools               = var.gpu_node_pools
  tags                         = local.tags
}

module "storage" {
  source = "../../modules/storage/aws"

  name_prefix   = var.name_prefix
  force_destroy = var.force_destroy_buckets
  tags          = local.tags
}

module "database" {
  source = "../../modules/database/aws"

  identifier                 = var.cluster_name
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.private_subnet_ids
  allowed_security_group_ids = [module.eks.cluster_security_group_id]
  instance_class             = var.database_instance_class
  multi_az                   = var.database_multi_az
  deletion_protection        = var.deletion_protection
  tags                       = local.tags
}

module "registry" {
  source = "../../modules/registry/aws"

  name_prefix = var.cluster_name
  tags        = local.tags
}

module "iam" {
  source = "../../modules/iam/aws"

  name_prefix       = var.cluster_name
  oidc_provider_arn = module.eks.oidc_provider_arn
  oidc_issuer       = module.eks.oidc_issuer
  service_accounts  = local.service_accounts
  bucket_arns       = module.storage.bucket_arns
  kms_key_arn       = module.storage.kms_key_arn
  tags              = local.tags
}

module "platform" {
  source = "../../modules/platform"

  cloud                       = "aws"
  cluster_name                = module.eks.cluster_name
  region                      = var.region
  service_accounts            = local.service_accounts
  service_account_annotations = module.iam.service_account_annotations
  airflow_image               = { repository = module.registry.repository_urls["airflow"], tag = var.airflow_image_tag }
  serving_image               = "${module.registry.repository_urls["serving"]}:${var.serving_image_tag}"
  airflow_env                 = local.airflow_env
  artifacts_bucket            = module.storage.artifacts_bucket
  gpu_node_pools              = module.eks.gpu_node_pools
  cluster_autoscaler_role_arn = module.eks.cluster_autoscaler_role_arn
  manifests_enabled           = var.manifests_enabled

  database = {
    host           = module.database.host
    port           = module.database.port
    admin_username = module.database.admin_username
    admin_password = module.database.admin_password
  }
  database_credentials = module.database.app_credentials

  depends_on = [module.eks]
}
