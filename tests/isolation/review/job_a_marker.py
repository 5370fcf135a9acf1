# the previous student's notebook: its source holds a marker
ANSWER_OF_ALICE = "alice-private-solution-5f1e" + "-and-her-name"
def sigmoid(x):
    return "alice-private-solution-5f1e"
