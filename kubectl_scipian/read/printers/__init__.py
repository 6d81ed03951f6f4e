"""Output formats of `get`: tables, json/yaml, name, jsonpath, custom-columns."""
