"""What a person looks at: images and grids, generation from a model (seeds, truncation, classes), the HTML report,
run summaries for `ganstudio runs`, and the live terminal view. Built-in commands and callbacks import it."""
