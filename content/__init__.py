"""The content store: clinic facts, answers and the code that loads, checks and searches them."""
