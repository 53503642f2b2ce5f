"""Cluster mode (docs/cluster.md): the same server as the ingress, its ops run by Ray Serve replicas.

- config.py: what the operator chooses (replicas, autoscaling bounds, devices, retries) and what each replica
  builds (ReplicaSettings);
- worker.py: the Serve deployment `Worker`, one ModelManager + Ops per replica, one job at a time;
- directory.py: the replicas' own reports (device, loaded models, state) for GetCapabilities;
- runner.py: RayOpRunner, the engine's OpRunner that forwards each job to a replica;
- app.py: connecting to Ray, deploying and scaling the application.

Importing this package does not import ray; its modules do.
"""
