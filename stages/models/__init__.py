"""One file per network family; the registry (stages.models.registry) maps names to builders."""
