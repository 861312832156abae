"""Dataset versions: choose and preview (preview), build (build), files and downloads (files),
the manifest (manifest) and what changed between two versions (diff)."""
