"""rules.yaml: the schema (`model`) and the loader with located errors (`loader`)."""
