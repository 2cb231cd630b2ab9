"""The auth blueprint: register, login, logout, /me, and the user's tokens."""
