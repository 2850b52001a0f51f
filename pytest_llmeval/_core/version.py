"""The plugin's version: written into every report and baseline (a baseline names its writer)."""

VERSION = "0.1.0"
