locals {
  # Least privilege: each workload gets the buckets it uses and nothing else.
  #   airflow  ingests and validates (lake rw), evaluates models (artifacts r), checks drift (inference logs r)
  #   trainer  reads validated data (lake r), logs runs and models (artifacts rw)
  #   serving  loads models (artifacts r), appends the inference log (inference logs rw)
  #   mlflow   the tracking server's artifact store (artifacts rw)
  access = {
    airflow = { lake = "rw", artifacts = "r", inference_logs = "r" }
    trainer = { lake = "r", artifacts = "rw" }
    serving = { artifacts = "r", inference_logs = "rw" }
    mlflow  = { artifacts = "rw" }
  }
  read_actions  = ["s3:GetObject", "s3:GetObjectVersion"]
  write_actions = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
}

data "aws_iam_policy_document" "assume" {
  for_each = local.access

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.service_accounts[each.key].namespace}:${var.service_accounts[each.key].name}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "access" {
  for_each = local.access

  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [for purpose in keys(each.value) : var.bucket_arns[purpose]]
  }

  statement {
    sid       = "ReadObjects"
    actions   = local.read_actions
    resources = [for purpose in keys(each.value) : "${var.bucket_arns[purpose]}/*"]
  }

  dynamic "statement" {
    for_each = length([for purpose, mode in each.value : purpose if mode == "rw"]) > 0 ? [1] : []

    content {
      sid       = "WriteObjects"
      actions   = local.write_actions
      resources = [for purpose, mode in each.value : "${var.bucket_arns[purpose]}/*" if mode == "rw"]
    }
  }

  statement {
    sid       = "UseBucketKey"
    actions   = contains(values(each.value), "rw") ? ["kms:Decrypt", "kms:GenerateDataKey"] : ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role" "this" {
  for_each = local.access

  name               = "${var.name_prefix}-${each.key}"
  description        = "Tradewind ${each.key}: assumed by ${var.service_accounts[each.key].namespace}/${var.service_accounts[each.key].name} through IRSA"
  assume_role_policy = data.aws_iam_policy_document.assume[each.key].json

  tags = var.tags
}

resource "aws_iam_role_policy" "this" {
  for_each = local.access

  name   = "buckets"
  role   = aws_iam_role.this[each.key].id
  policy = data.aws_iam_policy_document.access[each.key].json
}
