"""What the rest of the app knows about the simulator, kept apart from the simulator itself:
where it mounts each provider's API and how its replies are marked. The providers' settings
and the evaluation client read these on every start-up (and in `manage.py check`), and
importing the simulator would load the vendor SDKs its request checks use.
"""

# Each shape's paths are the real host's paths under this prefix: swap the base URL only.
# https://api.together.xyz/v1/… -> /together/v1/…; https://api.fireworks.ai/… (its
# /v1/accounts/… and /inference/v1/…) -> /fireworks/…; https://{resource}.openai.azure.com
# /openai/… -> /openai/… (Azure's own path already carries its prefix);
# https://management.azure.com/subscriptions/… -> /azure-management/subscriptions/….
PREFIXES = {"together": "/together", "fireworks": "/fireworks"}
AZURE_PREFIXES = {"data": "/openai", "management": "/azure-management"}

# Marks every simulated chat reply, so a client can label results as simulated.
FINGERPRINT = "curator-simulator"
