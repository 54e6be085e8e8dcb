"""What the person teaches and what a version learned: the Teach page, correcting an answer, What
it learned (insight, its sections, the insight worked out ahead) and the quality card.
"""
