"""What a scenario may say: the schema, the loader, the scenario library, distributions and milestone names.

The lowest layer of the data flow: nothing here imports the model, the batch runner or anything
above them.
"""
