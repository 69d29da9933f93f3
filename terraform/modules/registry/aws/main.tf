data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_partition" "current" {}

locals {
  registry = "${data.aws_caller_identity.current.account_id}.dkr.ecr.${data.aws_region.current.region}.amazonaws.com"
}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:A KMS key policy: Resource "*" is the key itself and the account root principal delegates its use to IAM policies.
  #checkov:skip=CKV_AWS_111:A KMS key policy: Resource "*" is the key itself and the account root principal delegates its use to IAM policies.
  #checkov:skip=CKV_AWS_356:A KMS key policy: Resource "*" is the key itself, the only resource a key policy can name.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "registry" {
  description             = "${var.name_prefix} container images"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json

  tags = var.tags
}

# Tags are immutable: a tag names one build forever, so push versioned tags (cuda-1.4.0, a git sha).
resource "aws_ecr_repository" "this" {
  for_each = toset(var.images)

  name                 = "${var.name_prefix}/${each.value}"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.registry.arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Delete untagged images"
      selection = {
        tagStatus   = "untagged"
        countType   = "sinceImagePushed"
        countUnit   = "days"
        countNumber = var.untagged_expiration_days
      }
      action = { type = "expire" }
    }]
  })
}
