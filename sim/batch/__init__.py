"""Monte Carlo batches: executors, the Results tables and the results store.

Sits above the model (it calls :func:`sim.model.simulate` once per replication) and below analysis,
output and the command line. A worker process imports the scenario, model and batch layers only.
"""
