import os
from contextlib import contextmanager

# Pendant la correction automatique, les points viennent de tests cachés : une
# vérification ratée y est seulement affichée. Chez vous (et avec Validate), elle
# arrête la cellule, pour que rien ne vous échappe.
EN_CORRECTION = os.environ.get("NBGRADER_EXECUTION") == "autograde"
_echecs = []


def verifier(nom, obtenu, attendu, rtol=1e-5, atol=1e-7):
    """Affiche si `obtenu` est égal à `attendu` aux erreurs d'arrondi près."""
    if not isinstance(obtenu, torch.Tensor):
        print(f"❌ {nom} : un torch.Tensor est attendu, obtenu {type(obtenu).__name__}")
    elif obtenu.shape != attendu.shape:
        print(f"❌ {nom} : forme attendue {tuple(attendu.shape)}, obtenue {tuple(obtenu.shape)}")
    elif torch.allclose(obtenu.double(), attendu.double(), rtol=rtol, atol=atol):
        print(f"✅ {nom} : correct")
        return
    else:
        ecart = (obtenu.double() - attendu.double()).abs().max().item()
        print(f"❌ {nom} : différent de la valeur attendue (écart max {ecart:.2g})")
    _echecs.append(nom)


@contextmanager
def verification(nom):
    """Regroupe les vérifications d'une fonction ; lève une erreur si l'une échoue."""
    _echecs.clear()
    try:
        yield
    except Exception as erreur:
        if not EN_CORRECTION:
            raise
        print(f"❌ {nom} : erreur {type(erreur).__name__} — {erreur}")
        return
    if _echecs and not EN_CORRECTION:
        raise AssertionError(f"{nom} : vérification ratée pour {', '.join(_echecs)}")
