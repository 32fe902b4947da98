{"goal": 3}
