"""Copying runs, their lineage and registered models between MLflow tracking stores
(``gensemble sync``): an offline sqlite store on a cluster to the team's server."""
