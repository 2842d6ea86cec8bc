"""Import the VTK modules whose object-factory overrides the pipelines rely on.

``vtkmodules.vtkRenderingCore`` only declares abstract classes; the OpenGL implementations,
FreeType text and volume mappers register themselves when their modules are imported. Importing
just these (instead of the whole ``vtk`` package) keeps start-up fast.
"""

import vtkmodules.vtkInteractionStyle
import vtkmodules.vtkRenderingFreeType
import vtkmodules.vtkRenderingOpenGL2
import vtkmodules.vtkRenderingVolumeOpenGL2  # noqa: F401  (GPU / smart volume mappers)
