"""Dataset versions: choose and preview (preview), build (build: export id ranges in parallel
(parallel, export), then group duplicates and assemble (assemble), with its figures (stats)),
files and downloads (files), the manifest (manifest) and what changed between two versions
(diff)."""
