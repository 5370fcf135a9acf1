# %%
import matplotlib.pyplot as plt

x = np.linspace(-5, 5, 200)
fig, ax = plt.subplots()
ax.plot(x, sigmoid(x), label="sigmoid")
ax.plot(x, sigmoid_derivative(x), label="derivative")
ax.legend()
fig.savefig("sigmoid.png")
plt.close(fig)
