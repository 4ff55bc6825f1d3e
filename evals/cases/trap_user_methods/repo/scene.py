"""Scene bookkeeping: plain Python objects whose method names happen to match tensor methods."""


class Camera:
    def __init__(self, position=(0.0, 0.0, 1.0)):
        self.position = position

    def view(self, target):
        """The direction from the camera to a target point."""
        return tuple(t - p for t, p in zip(target, self.position))


class Canvas:
    def __init__(self, width, height):
        self.width, self.height = width, height

    def size(self):
        return self.width, self.height

    def transpose(self, a, b):
        return Canvas(self.height, self.width) if (a, b) == (1, 0) else self


class Counter:
    def __init__(self):
        self.value = 0

    def add_(self, n):
        self.value += n
        return self


class Mesh:
    def __init__(self, faces):
        self.faces = list(faces)

    def numel(self):
        return 3 * len(self.faces)


class Scene:
    def __init__(self, width=16, height=16):
        self.camera = Camera()
        self.target = (0.0, 0.0, 0.0)
        self.canvas = Canvas(width, height)
        self.counter = Counter()
        self.mesh = Mesh([(0, 1, 2), (1, 2, 3)])
        self.device = "cpu"

    def look(self):
        return self.camera.view(self.target)

    def rotate(self):
        w, h = self.canvas.size()
        self.canvas = self.canvas.transpose(1, 0)
        return h, w

    def record(self, points):
        self.counter.add_(len(points))

    def complexity(self):
        return self.mesh.numel()

    def cuda(self, device=0):
        """Pretend to move scene buffers to a GPU: here only the name of the device is kept."""
        self.device = f"cuda:{device}"
        return self
