"""What the person teaches and what a version learned: feedback, datasets, insight, style."""
