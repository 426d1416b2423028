print("pp-score: not wired yet")
