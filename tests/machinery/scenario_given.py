"""A given class and a driver for the synthetic scenario of tests/machinery/test_judge.py: a linked list of
`Maillon`s whose `valeur` goes through `doubler`, an exercise the driver uses."""


class Maillon:
    def __init__(self, valeur, suivant=None):
        self.valeur = doubler(valeur)
        self.suivant = suivant


def drive_length(longueur, valeurs):
    """`longueur(tête)` of a list built from `valeurs`, and the values the list holds."""
    tete = None
    for v in reversed(valeurs):
        tete = Maillon(v, tete)
    return longueur(tete)
