"""Raw-data readers, the generated shapes dataset, and the prepared dataset."""
