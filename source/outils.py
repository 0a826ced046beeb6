import os

# verifier("nom") lance sur votre fonction les tests de la correction, sur de nouvelles
# valeurs tirées au hasard, et affiche le diagnostic que donnera le retour de correction.
# Une vérification ratée arrête l'exécution (Run All) à cet endroit.
if os.environ.get("NBGRADER_EXECUTION") == "autograde":
    def verifier(nom):
        """Pendant la correction automatique, ce sont les tests cachés qui notent."""
else:
    try:
        from autograder.selfcheck import verifier as _verificateur
        verifier = _verificateur("__TP__")
    except ImportError:
        print("⚠️ Les vérifications du cours ne sont pas installées dans cet environnement : "
              "les cellules « verifier(…) » ne vérifieront rien. Travaillez sur le JupyterHub du cours, "
              "ou demandez à votre enseignant comment les installer.")

        def verifier(nom):
            print(f"⚠️ {nom} : vérification indisponible (vérifications du cours non installées).")