"""Front-end renderings of an assessment: machine JSON and the terminal report."""
