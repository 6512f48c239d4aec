"""The REST API compatible with useapi.net's "Midjourney API v3": one module per family
(``jobs``, ``commands``, ``accounts``), the job presenter (``jobs_view``), SSE
(``streaming``) and webhooks (``webhooks``). Decisions where the reference is silent or
inconsistent are listed in docs/api.md."""
