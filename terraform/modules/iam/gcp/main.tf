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
  role = {
    r  = "roles/storage.objectViewer"
    rw = "roles/storage.objectUser"
  }
  bindings = merge([
    for workload, buckets in local.access : {
      for purpose, mode in buckets : "${workload}/${purpose}" => {
        workload = workload
        bucket   = var.bucket_names[purpose]
        role     = local.role[mode]
      }
    }
  ]...)
}

resource "google_service_account" "this" {
  for_each = local.access

  project      = var.project_id
  account_id   = "${var.name_prefix}-${each.key}"
  display_name = "Tradewind ${each.key}"
  description  = "Acts for the Kubernetes service account ${var.service_accounts[each.key].namespace}/${var.service_accounts[each.key].name} through Workload Identity."
}

resource "google_service_account_iam_member" "workload_identity" {
  for_each = local.access

  service_account_id = google_service_account.this[each.key].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.workload_pool}[${var.service_accounts[each.key].namespace}/${var.service_accounts[each.key].name}]"
}

resource "google_storage_bucket_iam_member" "this" {
  for_each = local.bindings

  bucket = each.value.bucket
  role   = each.value.role
  member = "serviceAccount:${google_service_account.this[each.value.workload].email}"
}
