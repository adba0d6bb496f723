"""clinicbot: a patient-engagement chatbot for small integrative clinics."""

__version__ = "0.1.0"
