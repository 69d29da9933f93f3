"""Pure builders of Kubernetes specs: GPU profiles, pods, jobs, InferenceService (filled by the training issue)."""
