"""cervix: a notebook-first toolkit for cervical cytology (Pap smear) analysis."""
__version__ = "0.1.0"
